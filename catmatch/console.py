"""How the long-running commands (``demo``, ``bench``) narrate their steps on stdout."""


def say(text: str) -> None:
    """One ``==> `` line, flushed at once."""
    print(f"==> {text}", flush=True)
