# SSH: the identification string (RFC 4253 section 4.2).
ssh
^ssh-[12]\.[0-9]+-
