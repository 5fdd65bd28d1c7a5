"""District-sponsored social media (AR 1114 II.3): YouTube channels, Blogger blogs and platform exports.

Plain typed functions, no Prefect. ``youtube`` and ``blogger`` read what changed since the last night through
the Google layer; ``exports`` reads the archives the communications office downloads from Facebook, Instagram
and X without trusting them; ``store`` keeps the items as last read; ``audit`` turns a site's live items into
findings with the name matching and consent rules of the website audit (``compliance.photos``).
"""
