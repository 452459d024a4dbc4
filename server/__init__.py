"""callpolicy HTTP API (Litestar + msgspec): thin handlers over policy/.

``create_app(ServerConfig(rules_dir=...))`` builds the app; ``python -m server serve``
runs it under uvicorn and ``python -m server keys add`` creates API keys.
"""

from .app import app_from_env, create_app
from .config import ConfigError, ServerConfig

__all__ = ["ConfigError", "ServerConfig", "app_from_env", "create_app"]
