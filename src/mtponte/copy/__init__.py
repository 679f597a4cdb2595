"""Copy trading: server (FastAPI), follower and publisher."""
