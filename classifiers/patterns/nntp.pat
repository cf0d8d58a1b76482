# NNTP: the 200/201 greeting naming news service (RFC 3977 section 5.1), or MODE READER.
nntp
^20[01][\x09-\x0d -~]*(nntp|news|usenet)|^mode reader\x0d?\x0a
