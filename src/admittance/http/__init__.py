"""The HTTP edge: app factory, authentication of requests, error rendering, vendor surfaces."""
