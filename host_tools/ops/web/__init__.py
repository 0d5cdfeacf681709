"""The operator's web console of `lamppost-ops` (docs/console-web.md): pages and a JSON API."""
