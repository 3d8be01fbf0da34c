"""HTTP routes, one router per area; node/app.py assembles them."""
