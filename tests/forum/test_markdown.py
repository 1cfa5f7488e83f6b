import pytest

from forum.markdown import render_markdown


@pytest.mark.parametrize(
    "payload",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        "<a href='data:text/html,<script>alert(1)</script>'>x</a>",
        '<svg onload="alert(1)">',
        "<iframe src='https://evil.example'></iframe>",
        '<p style="background:url(javascript:alert(1))" onclick="x()">hi</p>',
    ],
)
def test_dangerous_markup_is_removed(payload):
    html = render_markdown(payload).lower()
    for bad in (
        "<script",
        "onerror",
        "onload",
        "onclick",
        "javascript:",
        "data:",
        "<iframe",
        "<svg",
        "style=",
    ):
        assert bad not in html


def test_ordinary_markdown_survives():
    html = render_markdown(
        "# Title\n\n**bold** and [link](https://nairaland.com)\n\n```\ncode <b>\n```"
    )
    assert "<h1>Title</h1>" in html
    assert "<strong>bold</strong>" in html
    assert 'href="https://nairaland.com"' in html
    assert 'rel="nofollow ugc noopener noreferrer"' in html
    assert "code &lt;b&gt;" in html
