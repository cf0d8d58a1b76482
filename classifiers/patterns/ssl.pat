# SSL/TLS: a handshake record carrying a ClientHello or ServerHello (RFC 8446 section 5.1).
# Binary, so case-sensitive: (?-i) stops Latin-1 case folding of bytes.
ssl
(?-i)^\x16\x03[\x00-\x04][\x00-\x40].[\x01\x02]\x00
