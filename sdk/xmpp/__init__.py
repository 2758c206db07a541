"""XMPP publish-subscribe for documents: payload stanzas, the node scheme, and bots."""

from sdk.xmpp import escaping

# Before any stanza is serialized: see sdk/xmpp/escaping.py for why.
escaping.install()
