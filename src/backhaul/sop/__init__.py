"""The standard operating procedure of a product at a site, built from the configuration, with
the check of the site's capabilities against what the procedure needs."""
