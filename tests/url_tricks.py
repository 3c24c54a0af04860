"""URLs that name one host to one reader and connect to another (or to a local address in disguise), for
the tests of every outbound path: each must be refused before a single byte reaches the counting server."""

from hypothesis import strategies as st

ALLOWED = "allowed.example"  # an allowed host name that does not resolve: reaching it is impossible too


def local_hosts():
    """127.0.0.1 written in the forms a resolver or a parser accepts."""
    return [
        "127.0.0.1",
        "2130706433",
        "0177.0.0.1",
        "0x7f000001",
        "0x7f.0.0.1",
        "127.1",
        "017700000001",
        "localhost",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "[::7f00:1]",
        "[::ffff:0:7f00:1]",
        "[64:ff9b::7f00:1]",
        "[::1]",
        "0.0.0.0",
        "[::]",
    ]


def trick_urls(port, allowed=ALLOWED):
    """Every trick against a server on 127.0.0.1:`port` while only `allowed` may be called."""
    urls = [
        f"{scheme}://127.0.0.1:{port}/x" for scheme in ("file", "gopher", "ftp", "dict", "ws", "javascript", "data")
    ]
    urls += ["file:///etc/passwd", "javascript:alert(1)", "data:text/html,<script>alert(1)</script>"]
    for host in local_hosts():
        urls += [
            f"http://{host}:{port}/x",
            f"http://{host}:{port}\\@{allowed}/x",
            f"http://{host}:{port}\\\\@{allowed}/x",
            f"http://{allowed}@{host}:{port}/x",
            f"http://{allowed}:pw@{host}:{port}/x",
            f"http://user:pw@{host}:{port}/x",
            f"http://{host}:{port}#@{allowed}/x",
            f"http://{host}:{port}?@{allowed}/x",
            f"http://{host}:{port}\\{allowed}/x",
            f"http:\\\\{host}:{port}/x",
            f"http://{host}:{port}\t@{allowed}/x",
            f" http://{host}:{port}/x",
            f"HTTP://{host.upper()}:{port}/x",
        ]
    return urls


def trick_url_strategy(port, allowed=ALLOWED):
    """Hypothesis: the tricks above, and random joins of their pieces."""
    host = st.sampled_from(local_hosts())
    glue = st.sampled_from(["\\@", "\\\\@", "@", "#@", "?@", "\\", "%5C@", "\t@", "\n@", " @", ""])
    userinfo = st.sampled_from(["", f"{allowed}@", "u:p@", f"{allowed}:{port}@", "@"])
    scheme = st.sampled_from(["http://", "https://", "HTTP://", "http:\\\\", "http:/", "file://", "gopher://"])
    built = st.builds(
        lambda s, u, h, g: f"{s}{u}{h}:{port}{g}{allowed}/x" if g else f"{s}{u}{h}:{port}/x",
        scheme,
        userinfo,
        host,
        glue,
    )
    return st.one_of(st.sampled_from(trick_urls(port, allowed)), built)
