from tests.xmpp_support import prosody

__all__ = ["prosody"]
