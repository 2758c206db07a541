"""XMPP publish-subscribe for documents: payload stanzas, the node scheme, and bots."""
