# FTP control channel: the 220 greeting naming FTP (RFC 959 section 4.2).
ftp
^220[\x09-\x0d -~]*ftp
