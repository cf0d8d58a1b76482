# eDonkey/eMule TCP: protocol byte (e3 edonkey, c5 emule, d4 packed), little-endian length,
# then a hello (01), hello answer (4c) or another common opcode.
edonkey
(?-i)^[\xc5\xd4\xe3][\x01-\xff][\x00-\x01]\x00\x00[\x01\x4c\x38\x58\x96\x97\x46\x47]
