"""Photos and names on school websites: crawl each site, read the evidence around every image, find students
in it and judge each against consent.

The modules, in import order (each imports only those above it):

* :mod:`~compliance.photos.evidence`: what one HTML page and one image file say (texts bound to each image,
  links, embedded EXIF/IPTC/XMP).
* :mod:`~compliance.photos.freshness`: HTTP caching (RFC 9111) and the crawl cache of validators.
* :mod:`~compliance.photos.fetch`: URL canonical form, address checks, per-host politeness, the HTTP client.
* :mod:`~compliance.photos.results`: what a crawl returns, and the evidence built from it.
* :mod:`~compliance.photos.traversal`: the crawl of a site (robots.txt, sitemaps, links, images).
* :mod:`~compliance.photos.store`: the crawl cache read from the store, and the crawl persisted to it.
* :mod:`~compliance.photos.matching`: students' names found in evidence texts.
* :mod:`~compliance.photos.findings`: identifications judged against consent, kept as findings.
"""
