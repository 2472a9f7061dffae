"""``python -m monitor`` is ``tgmonitor``."""

from monitor.cli import entry

if __name__ == "__main__":
    entry(prog_name="tgmonitor")
