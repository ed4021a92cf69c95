"""Block Kit message templates (Jinja2 rendering JSON). Rendered only by ``bot.render.render``."""

from pathlib import Path

TEMPLATE_DIR = Path(__file__).parent
