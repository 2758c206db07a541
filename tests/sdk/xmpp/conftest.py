from tests.xmpp_support import ejabberd, prosody, xmpp_server

__all__ = ["ejabberd", "prosody", "xmpp_server"]
