"""Flask extensions, created once and bound in the app factory."""

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
login_manager = LoginManager()
babel = Babel()
# In-process counters are enough for one server; production points RATELIMIT_STORAGE_URI
# at a shared store (see README).
limiter = Limiter(key_func=get_remote_address, default_limits=[])
