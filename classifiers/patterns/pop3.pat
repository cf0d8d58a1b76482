# POP3: the greeting (RFC 1939 section 4) mentioning POP or readiness, or APOP/STLS/CAPA.
pop3
^\+ok [\x09-\x0d -~]*(pop|ready)|^(apop [!-~]+ [0-9a-f]{32}|capa\x0d?\x0a|stls\x0d?\x0a)
