# HTTP: a request line or a status line (RFC 9112 section 3 and 4).
http
^(get|post|head|put|delete|options|connect|patch|trace|propfind) [\x09-\x0d -~]* http/[01]\.[0-9]|^http/[01]\.[0-9] [1-5][0-9][0-9]
