"""Chat front-ends over the dvrules guided session: Telegram and Slack.

``render`` turns questions and results into channel-neutral message parts and splits long ones;
``conversation`` reads commands and button payloads and calls the session API; ``config``
reads and checks the environment. ``telegram`` and ``slack`` only translate between their
platform and those. See docs/bots.md to put either bot live.
"""
