# BitTorrent: the peer handshake (BEP 3), a DHT query or reply (BEP 5), a tracker announce.
bittorrent
^(\x13bittorrent protocol|d1:[ar]d2:id20:|get /(announce|scrape)(\.php)?\?[!-~]*info_hash=)
