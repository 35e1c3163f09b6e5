"""The paper's Figures 1 and 2, and a decoding step with the cache, drawn from
the code.

Every box is read off a real :class:`~transformer.model.Transformer` built from
a :class:`ModelConfig`: the module that does the work, its class, its file and
its sizes, so the picture cannot drift from the model (pre-norm configs draw
the norm before each sub-layer; untied outputs draw their own matrix). Drawn as
SVG, each box links to its source lines (``repo_url``: the repository, e.g.
from the book's ``_config.yml``); ``to_html`` inlines the SVG so that the links
work in a web page.

    from transformer.figures import architecture, to_html
    config = ModelConfig.base(vocab_size=37000)
    fig = architecture(config, repo_url="https://github.com/...")
    display(HTML(to_html(fig)))
"""

from transformer.figures.architecture import architecture
from transformer.figures.boxes import to_html
from transformer.figures.decoding import decoding_step
from transformer.figures.multi_head import multi_head_attention

__all__ = ["architecture", "decoding_step", "multi_head_attention", "to_html"]
