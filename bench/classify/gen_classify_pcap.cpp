// SPDX-License-Identifier: GPL-2.0-or-later
// flowacct-gen-classify: writes a deterministic pcap of application streams with known classes
// (HTTP, SMTP, SSH, POP3, FTP, NNTP, RTSP, eDonkey, TLS with a server name, DNS, BitTorrent and
// unclassifiable ones) for the classification tests and benchmark, and prints what each server
// address should be classified as.
#include <algorithm> // std::min
#include <cstdint>  // std::uint8_t .. std::uint64_t
#include <cstdio>   // std::FILE, std::fopen, std::fwrite, std::printf
#include <cstdlib>  // std::strtoul
#include <cstring>  // std::strcmp, std::memcpy
#include <string>   // std::string
#include <vector>   // std::vector

namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes text(const std::string& s) { return Bytes(s.begin(), s.end()); }

void put16(Bytes& b, std::uint32_t v) {
    b.push_back(static_cast<std::uint8_t>(v >> 8));
    b.push_back(static_cast<std::uint8_t>(v));
}
void put24(Bytes& b, std::uint32_t v) {
    b.push_back(static_cast<std::uint8_t>(v >> 16));
    put16(b, v & 0xffff);
}
void set16(Bytes& b, std::size_t at, std::uint32_t v) {
    b[at] = static_cast<std::uint8_t>(v >> 8);
    b[at + 1] = static_cast<std::uint8_t>(v);
}

// A TLS 1.2 record holding a ClientHello with a server_name extension (RFC 8446 4.1.2, RFC 6066 3).
Bytes client_hello(const std::string& sni) {
    Bytes body;
    put16(body, 0x0303);
    for (int i = 0; i < 32; ++i) body.push_back(static_cast<std::uint8_t>(i * 7));
    body.push_back(32);
    for (int i = 0; i < 32; ++i) body.push_back(static_cast<std::uint8_t>(0xa0 + i));
    put16(body, 4);
    put16(body, 0x1301);
    put16(body, 0xc02f);
    body.push_back(1);
    body.push_back(0);
    Bytes ext;
    put16(ext, 0x000a); // supported_groups first, so the parser has to walk
    put16(ext, 4);
    put16(ext, 2);
    put16(ext, 0x001d);
    put16(ext, 0x0000); // server_name
    put16(ext, static_cast<std::uint32_t>(sni.size() + 5));
    put16(ext, static_cast<std::uint32_t>(sni.size() + 3));
    ext.push_back(0);
    put16(ext, static_cast<std::uint32_t>(sni.size()));
    ext.insert(ext.end(), sni.begin(), sni.end());
    put16(body, static_cast<std::uint32_t>(ext.size()));
    body.insert(body.end(), ext.begin(), ext.end());
    Bytes hs{1};
    put24(hs, static_cast<std::uint32_t>(body.size()));
    hs.insert(hs.end(), body.begin(), body.end());
    Bytes rec{22, 3, 1};
    put16(rec, static_cast<std::uint32_t>(hs.size()));
    rec.insert(rec.end(), hs.begin(), hs.end());
    return rec;
}

Bytes server_hello() {
    Bytes body;
    put16(body, 0x0303);
    for (int i = 0; i < 32; ++i) body.push_back(static_cast<std::uint8_t>(0x40 + i));
    body.push_back(0);
    put16(body, 0xc02f);
    body.push_back(0);
    put16(body, 0);
    Bytes rec{22, 3, 3, 0, 0, 2};
    put24(rec, static_cast<std::uint32_t>(body.size()));
    rec.insert(rec.end(), body.begin(), body.end());
    set16(rec, 3, static_cast<std::uint32_t>(rec.size() - 5));
    return rec;
}

Bytes dns_message(std::uint16_t id, bool response, const std::string& name) {
    Bytes m;
    put16(m, id);
    put16(m, response ? 0x8180 : 0x0100);
    put16(m, 1);
    put16(m, response ? 1 : 0);
    put16(m, 0);
    put16(m, 0);
    std::size_t start = 0;
    while (start <= name.size()) {
        std::size_t dot = name.find('.', start);
        if (dot == std::string::npos) dot = name.size();
        m.push_back(static_cast<std::uint8_t>(dot - start));
        m.insert(m.end(), name.begin() + static_cast<long>(start), name.begin() + static_cast<long>(dot));
        start = dot + 1;
    }
    m.push_back(0);
    put16(m, 1);
    put16(m, 1);
    if (response) {
        put16(m, 0xc00c);
        put16(m, 1);
        put16(m, 1);
        put16(m, 0);
        put16(m, 300);
        put16(m, 4);
        for (std::uint8_t b : {192, 0, 2, 7}) m.push_back(b);
    }
    return m;
}

Bytes bt_handshake(std::uint8_t who) {
    Bytes b{19};
    const std::string p = "BitTorrent protocol";
    b.insert(b.end(), p.begin(), p.end());
    for (int i = 0; i < 8; ++i) b.push_back(0);
    for (int i = 0; i < 20; ++i) b.push_back(static_cast<std::uint8_t>(0x11 * (i % 15)));
    for (int i = 0; i < 20; ++i) b.push_back(static_cast<std::uint8_t>(who + i));
    return b;
}

struct Protocol {
    const char* cls;     // expected class
    std::uint8_t proto;  // 6 or 17
    std::uint16_t port;
    Bytes first;         // payload of the first exchange (sent by `server_first` ? server : client)
    Bytes second;        // the answer
    bool server_first;
};

std::vector<Protocol> protocols() {
    Bytes edonkey_hello{0xe3, 0x22, 0x00, 0x00, 0x00, 0x01, 0x10};
    for (int i = 0; i < 32; ++i) edonkey_hello.push_back(static_cast<std::uint8_t>(i));
    Bytes edonkey_answer{0xe3, 0x1e, 0x00, 0x00, 0x00, 0x4c};
    for (int i = 0; i < 29; ++i) edonkey_answer.push_back(static_cast<std::uint8_t>(0x80 + i));
    Bytes junk1{0x00, 0x07, 0xde, 0xad, 0xbe, 0xef, 0x42, 0x13, 0x37, 0x99, 0x01, 0x02, 0x03, 0x04};
    Bytes junk2{0x7f, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd};
    return {
        {"http", 6, 80, text("GET /index.html HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: gen\r\n\r\n"),
         text("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 512\r\n\r\n<html>"), false},
        {"smtp", 6, 25, text("220 mail.example.com ESMTP Postfix (Debian/GNU)\r\n"), text("EHLO client.example.org\r\n"),
         true},
        {"ssh", 6, 22, text("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"), text("SSH-2.0-OpenSSH_9.2p1\r\n"), true},
        {"pop3", 6, 110, text("+OK POP3 server ready <1896.697170952@example.com>\r\n"), text("USER alice\r\n"), true},
        {"ftp", 6, 21, text("220 ProFTPD Server (Debian) [192.0.2.2]\r\n"), text("USER anonymous\r\n"), true},
        {"nntp", 6, 119, text("200 news.example.com InterNetNews NNRP server INN 2.7.1 ready (posting ok)\r\n"),
         text("MODE READER\r\n"), true},
        {"rtsp", 6, 554, text("OPTIONS rtsp://media.example.com/live RTSP/1.0\r\nCSeq: 1\r\n\r\n"),
         text("RTSP/1.0 200 OK\r\nCSeq: 1\r\nPublic: DESCRIBE, SETUP, PLAY\r\n\r\n"), false},
        {"edonkey", 6, 4662, edonkey_hello, edonkey_answer, false},
        {"ssl", 6, 443, client_hello("www.example.com"), server_hello(), false},
        {"dns", 17, 53, dns_message(0x1234, false, "www.example.com"), dns_message(0x1234, true, "www.example.com"),
         false},
        {"bittorrent", 6, 6881, bt_handshake(0x20), bt_handshake(0x60), false},
        {"unknown", 6, 5555, junk1, junk2, false},
        {"unknown", 17, 5556, junk2, junk1, false},
    };
}

struct Writer {
    std::FILE* f;
    std::uint32_t snaplen;
    std::uint64_t time_us;
    std::uint64_t packets = 0;

    void frame(const Bytes& l3, bool v6) {
        Bytes fr{0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1};
        put16(fr, v6 ? 0x86dd : 0x0800);
        fr.insert(fr.end(), l3.begin(), l3.end());
        std::uint32_t caplen = std::min<std::uint32_t>(static_cast<std::uint32_t>(fr.size()), snaplen);
        std::uint32_t hdr[4] = {static_cast<std::uint32_t>(time_us / 1000000), static_cast<std::uint32_t>(time_us % 1000000),
                                caplen, static_cast<std::uint32_t>(fr.size())};
        std::fwrite(hdr, sizeof hdr, 1, f);
        std::fwrite(fr.data(), 1, caplen, f);
        time_us += 50;
        ++packets;
    }
};

struct Endpoint {
    std::uint8_t ip[16];
    std::uint16_t port;
};

// One IPv4 or IPv6 packet with a TCP or UDP header. Checksums are left zero (the decoder does
// not verify them).
Bytes packet(bool v6, std::uint8_t proto, const Endpoint& from, const Endpoint& to, std::uint8_t flags,
             std::uint32_t seq, std::uint32_t ack, const Bytes& payload) {
    Bytes l4;
    put16(l4, from.port);
    put16(l4, to.port);
    if (proto == 6) {
        put16(l4, seq >> 16);
        put16(l4, seq & 0xffff);
        put16(l4, ack >> 16);
        put16(l4, ack & 0xffff);
        l4.push_back(0x50);
        l4.push_back(flags);
        put16(l4, 65535);
        put16(l4, 0);
        put16(l4, 0);
    } else {
        put16(l4, static_cast<std::uint32_t>(8 + payload.size()));
        put16(l4, 0);
    }
    l4.insert(l4.end(), payload.begin(), payload.end());
    Bytes ip;
    if (!v6) {
        ip = {0x45, 0};
        put16(ip, static_cast<std::uint32_t>(20 + l4.size()));
        put16(ip, 0);
        put16(ip, 0x4000);
        ip.push_back(64);
        ip.push_back(proto);
        put16(ip, 0);
        ip.insert(ip.end(), from.ip + 12, from.ip + 16);
        ip.insert(ip.end(), to.ip + 12, to.ip + 16);
    } else {
        ip = {0x60, 0, 0, 0};
        put16(ip, static_cast<std::uint32_t>(l4.size()));
        ip.push_back(proto);
        ip.push_back(64);
        ip.insert(ip.end(), from.ip, from.ip + 16);
        ip.insert(ip.end(), to.ip, to.ip + 16);
    }
    ip.insert(ip.end(), l4.begin(), l4.end());
    return ip;
}

Endpoint endpoint(bool v6, std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint16_t port) {
    Endpoint e{};
    if (v6) {
        e.ip[0] = 0x20;
        e.ip[1] = 0x01;
        e.ip[2] = 0x0d;
        e.ip[3] = 0xb8;
        e.ip[13] = a;
        e.ip[14] = b;
        e.ip[15] = c;
    } else {
        e.ip[10] = e.ip[11] = 0xff;
        e.ip[12] = 10;
        e.ip[13] = a;
        e.ip[14] = b;
        e.ip[15] = c;
    }
    e.port = port;
    return e;
}

// Streams are interleaved (every stream advances one packet per round) so that handshakes,
// first payloads and bulk data of different streams mix in each batch, as on a real link.
struct Stream {
    const Protocol* p;
    bool v6;
    Endpoint client, server;
    std::uint32_t step = 0;
    std::uint32_t cseq = 1000, sseq = 5000;
};

} // namespace

int main(int argc, char** argv) {
    std::uint32_t streams = 4, data = 6, snaplen = 600;
    std::string out = "classify.pcap";
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto val = [&]() -> const char* { return i + 1 < argc ? argv[++i] : ""; };
        if (a == "--streams") streams = static_cast<std::uint32_t>(std::strtoul(val(), nullptr, 10));
        else if (a == "--data") data = static_cast<std::uint32_t>(std::strtoul(val(), nullptr, 10));
        else if (a == "--snaplen") snaplen = static_cast<std::uint32_t>(std::strtoul(val(), nullptr, 10));
        else if (a == "-o") out = val();
        else {
            std::fprintf(stderr,
                         "usage: %s [--streams N per protocol] [--data N bulk packets per stream] [--snaplen N] "
                         "[-o file]\n",
                         argv[0]);
            return 2;
        }
    }
    if (streams == 0 || streams > 250) {
        std::fprintf(stderr, "--streams: 1 to 250\n");
        return 2;
    }
    std::FILE* f = std::fopen(out.c_str(), "wb");
    if (!f) {
        std::perror(out.c_str());
        return 1;
    }
    std::uint32_t gh[6] = {0xa1b2c3d4, 0x00040002, 0, 0, snaplen, 1};
    std::fwrite(gh, sizeof gh, 1, f);
    Writer w{f, snaplen, 1'700'000'000ull * 1'000'000};

    const auto protos = protocols();
    std::vector<Stream> all;
    for (std::uint32_t k = 0; k < protos.size(); ++k)
        for (std::uint32_t i = 0; i < streams; ++i) {
            // Every fourth stream is IPv6. Servers: 10.2.<protocol>.<n>; clients: 10.1.<protocol>.<n>.
            bool v6 = i % 4 == 3;
            Stream s{&protos[k], v6, endpoint(v6, 1, static_cast<std::uint8_t>(k), static_cast<std::uint8_t>(i + 1),
                                               static_cast<std::uint16_t>(40000 + k * 256 + i)),
                     endpoint(v6, 2, static_cast<std::uint8_t>(k), static_cast<std::uint8_t>(i + 1), protos[k].port)};
            all.push_back(s);
        }
    Bytes bulk(400);
    for (std::size_t i = 0; i < bulk.size(); ++i) bulk[i] = static_cast<std::uint8_t>(i * 31 + 7);

    // Script of one stream: TCP handshake (3), first (1), second (1), data bulk packets
    // alternating direction, FIN exchange (2); UDP skips handshake and FINs.
    bool any = true;
    while (any) {
        any = false;
        for (auto& s : all) {
            const bool tcp = s.p->proto == 6;
            const std::uint32_t steps = (tcp ? 5 : 0) + 2 + data;
            if (s.step >= steps) continue;
            any = true;
            std::uint32_t st = s.step++;
            auto send = [&](bool from_client, std::uint8_t flags, const Bytes& pl) {
                const Endpoint& a = from_client ? s.client : s.server;
                const Endpoint& b = from_client ? s.server : s.client;
                std::uint32_t& seq = from_client ? s.cseq : s.sseq;
                std::uint32_t ack = from_client ? s.sseq : s.cseq;
                w.frame(packet(s.v6, s.p->proto, a, b, flags, seq, ack, pl), s.v6);
                seq += static_cast<std::uint32_t>(pl.size()) + ((flags & 0x03) ? 1 : 0);
            };
            if (tcp) {
                if (st == 0) { send(true, 0x02, {}); continue; }
                if (st == 1) { send(false, 0x12, {}); continue; }
                if (st == 2) { send(true, 0x10, {}); continue; }
                st -= 3;
                if (st == 2 + data) { send(true, 0x11, {}); continue; }
                if (st == 3 + data) { send(false, 0x11, {}); continue; }
            }
            if (st == 0) send(!s.p->server_first, 0x18, s.p->first);
            else if (st == 1) send(s.p->server_first, 0x18, s.p->second);
            else send(st % 2 == 0, 0x18, bulk);
        }
    }
    std::fclose(f);
    // What a test checks: each server prefix with its class.
    for (std::uint32_t k = 0; k < protos.size(); ++k)
        std::printf("%s %s 10.2.%u.0/24 2001:db8::2:%x/120\n", protos[k].cls, protos[k].proto == 6 ? "tcp" : "udp", k, k << 8);
    std::printf("packets %llu streams %zu\n", static_cast<unsigned long long>(w.packets), all.size());
    return 0;
}
