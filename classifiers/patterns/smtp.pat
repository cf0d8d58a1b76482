# SMTP: the server greeting names the protocol (RFC 5321 section 4.2), or a client HELO/EHLO.
smtp
^220[\x09-\x0d -~]* (e?smtp|simple mail)|^(ehlo|helo) [!-~]+\x0d?\x0a
