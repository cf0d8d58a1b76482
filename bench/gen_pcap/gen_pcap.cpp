// SPDX-License-Identifier: GPL-2.0-or-later
// flowacct-gen-pcap: writes a deterministic synthetic pcap savefile (mixed IPv4/IPv6, TCP/UDP/ICMP,
// VLAN/QinQ, fragments, IPv6 extension headers) and prints the totals flowacct should count.
#include <cstdint>    // std::uint8_t .. std::uint64_t
#include <cstdio>     // std::FILE, std::fopen, std::fwrite, std::printf
#include <cstdlib>    // std::strtod, std::strtoull
#include <cstring>    // std::memcpy, std::memset, std::strcmp
#include <string>     // std::string
#include <vector>     // std::vector

namespace {

struct Options {
    std::uint64_t packets = 1'000'000;
    std::uint32_t flows = 10'000;
    double ipv6 = 0.3;       // share of flows that are IPv6
    double vlan = 0.2;       // share of flows carrying an 802.1Q tag (Ethernet only)
    double qinq = 0.25;      // share of tagged flows that carry two tags
    double tcp = 0.6, udp = 0.3, icmp = 0.1;
    double frag = 0.02;      // share of UDP flows whose packets are sent as two fragments
    double v6ext = 0.1;      // share of IPv6 flows with a hop-by-hop + destination options header
    double reverse = 0.3;    // share of packets going responder -> initiator
    std::uint16_t qinq_tpid = 0x88a8;  // outer tag type of double-tagged frames (0x88a8 or 0x8100)
    double arp = 0.0;        // share of frames that are ARP requests (Ethernet only; not IP)
    std::uint32_t snaplen = 128;
    std::uint32_t duration_s = 20;
    std::uint64_t start_s = 1'700'000'000;
    std::uint64_t seed = 1;
    std::string linktype = "en10mb";
    std::string out = "out.pcap";
};

class Rng {  // splitmix64: fixed seed, same file on every machine
public:
    explicit Rng(std::uint64_t seed) : s_(seed) {}
    std::uint64_t next() {
        std::uint64_t z = (s_ += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    double unit() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }
    std::uint32_t below(std::uint32_t n) { return static_cast<std::uint32_t>(next() % n); }

private:
    std::uint64_t s_;
};

struct Flow {
    bool v6, frag, v6ext;
    int tags;                 // 0, 1 or 2
    std::uint16_t vlan_outer, vlan_inner;
    std::uint8_t proto;
    std::uint8_t tos;
    std::uint8_t a[16], b[16];  // initiator, responder (IPv4 in the first 4 bytes)
    std::uint8_t mac_a[6], mac_b[6];
    std::uint16_t port_a, port_b;
    std::uint16_t min_len, max_len;  // IP length range
    bool started[2];
};

struct Totals {
    std::uint64_t frames = 0, ip_bytes = 0, wire_bytes = 0, v4 = 0, v6 = 0, tcp = 0, udp = 0, icmp = 0,
                  tagged = 0, qinq = 0, fragments = 0, v6ext = 0, arp = 0;
};

void put16(std::uint8_t* p, std::uint32_t v) {
    p[0] = static_cast<std::uint8_t>(v >> 8);
    p[1] = static_cast<std::uint8_t>(v);
}
void put32(std::uint8_t* p, std::uint32_t v) {
    put16(p, v >> 16);
    put16(p + 2, v & 0xffff);
}

std::uint16_t ip_checksum(const std::uint8_t* p, int len) {
    std::uint32_t sum = 0;
    for (int i = 0; i + 1 < len; i += 2) sum += static_cast<std::uint32_t>((p[i] << 8) | p[i + 1]);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<std::uint16_t>(~sum);
}

int link_type_of(const std::string& name) {
    if (name == "en10mb") return 1;
    if (name == "raw") return 101;
    if (name == "sll") return 113;
    if (name == "sll2") return 276;
    if (name == "null") return 0;
    return -1;
}

class Writer {
public:
    Writer(const Options& o, int linktype) : o_(o), linktype_(linktype) {
        f_ = std::fopen(o.out.c_str(), "wb");
        if (!f_) return;
        std::setvbuf(f_, nullptr, _IOFBF, 1 << 20);
        std::uint8_t h[24];
        std::uint32_t magic = 0xa1b2c3d4;  // written in host order: readers detect the byte order
        std::memcpy(h, &magic, 4);
        std::uint16_t vmaj = 2, vmin = 4;
        std::memcpy(h + 4, &vmaj, 2);
        std::memcpy(h + 6, &vmin, 2);
        std::memset(h + 8, 0, 8);
        std::uint32_t snap = 65535, lt = static_cast<std::uint32_t>(linktype);
        std::memcpy(h + 16, &snap, 4);
        std::memcpy(h + 20, &lt, 4);
        std::fwrite(h, 1, 24, f_);
    }
    ~Writer() {
        if (f_) std::fclose(f_);
    }
    bool ok() const { return f_ != nullptr; }

    void frame(std::uint64_t ts_us, const std::uint8_t* data, std::uint32_t wirelen) {
        std::uint32_t caplen = wirelen < o_.snaplen ? wirelen : o_.snaplen;
        std::uint32_t rec[4] = {static_cast<std::uint32_t>(ts_us / 1'000'000),
                                static_cast<std::uint32_t>(ts_us % 1'000'000), caplen, wirelen};
        std::fwrite(rec, 1, sizeof rec, f_);
        std::fwrite(data, 1, caplen, f_);
    }

private:
    const Options& o_;
    int linktype_;
    std::FILE* f_ = nullptr;
};

// Builds the link header for `flow` into `buf`; returns its length. `l3type` is the ethertype.
std::uint32_t link_header(int linktype, const Flow& fl, bool rev, std::uint16_t l3type, std::uint16_t tpid,
                          std::uint8_t* buf, Totals& t) {
    const std::uint8_t* smac = rev ? fl.mac_b : fl.mac_a;
    const std::uint8_t* dmac = rev ? fl.mac_a : fl.mac_b;
    switch (linktype) {
    case 1: {
        std::memcpy(buf, dmac, 6);
        std::memcpy(buf + 6, smac, 6);
        std::uint32_t off = 12;
        if (fl.tags == 2) {
            put16(buf + off, tpid);
            put16(buf + off + 2, fl.vlan_outer);
            put16(buf + off + 4, 0x8100);
            put16(buf + off + 6, fl.vlan_inner);
            off += 8;
            ++t.qinq;
            ++t.tagged;
        } else if (fl.tags == 1) {
            put16(buf + off, 0x8100);
            put16(buf + off + 2, fl.vlan_outer);
            off += 4;
            ++t.tagged;
        }
        put16(buf + off, l3type);
        return off + 2;
    }
    case 113:
        put16(buf, rev ? 0 : 4);  // to us / outgoing
        put16(buf + 2, 1);        // ARPHRD_ETHER
        put16(buf + 4, 6);
        std::memcpy(buf + 6, smac, 6);
        put16(buf + 12, 0);
        put16(buf + 14, l3type);
        return 16;
    case 276:
        put16(buf, l3type);
        put16(buf + 2, 0);
        put32(buf + 4, 2);        // ifindex
        put16(buf + 8, 1);
        buf[10] = rev ? 0 : 4;
        buf[11] = 6;
        std::memcpy(buf + 12, smac, 6);
        put16(buf + 18, 0);
        return 20;
    case 0: {
        std::uint32_t af = l3type == 0x0800 ? 2 : 10;
        std::memcpy(buf, &af, 4);  // host byte order, as DLT_NULL defines
        return 4;
    }
    default:
        return 0;  // raw IP
    }
}

// Writes the L4 header (and zero payload) of `len` bytes at `p`.
void l4_header(const Flow& fl, bool rev, bool first_of_dir, std::uint8_t* p, std::uint32_t len, Rng& rng) {
    std::memset(p, 0, len);
    std::uint16_t sp = rev ? fl.port_b : fl.port_a, dp = rev ? fl.port_a : fl.port_b;
    if (fl.proto == 6 && len >= 20) {
        put16(p, sp);
        put16(p + 2, dp);
        put32(p + 4, static_cast<std::uint32_t>(rng.next()));
        put32(p + 8, static_cast<std::uint32_t>(rng.next()));
        p[12] = 5 << 4;
        p[13] = first_of_dir ? (rev ? 0x12 : 0x02) : 0x18;  // SYN, SYN-ACK, then PSH-ACK
        put16(p + 14, 65535);
        for (std::uint32_t i = 20; i < len && i < 60; ++i) p[i] = static_cast<std::uint8_t>('A' + i % 26);
    } else if (fl.proto == 17 && len >= 8) {
        put16(p, sp);
        put16(p + 2, dp);
        put16(p + 4, len);
        for (std::uint32_t i = 8; i < len && i < 48; ++i) p[i] = static_cast<std::uint8_t>('a' + i % 26);
    } else if (len >= 8) {  // ICMP / ICMPv6 echo
        p[0] = fl.v6 ? (rev ? 129 : 128) : (rev ? 0 : 8);
        put16(p + 4, static_cast<std::uint16_t>(fl.port_a));
        put16(p + 6, static_cast<std::uint16_t>(rng.below(65536)));
    }
}

void emit_packet(Writer& w, const Options& o, int linktype, Flow& fl, std::uint64_t ts_us, Rng& rng, Totals& t,
                 std::uint32_t& ip_id, std::uint8_t* buf) {
    const bool rev = rng.unit() < o.reverse;
    const bool first_of_dir = !fl.started[rev ? 1 : 0];
    fl.started[rev ? 1 : 0] = true;
    const std::uint8_t* src = rev ? fl.b : fl.a;
    const std::uint8_t* dst = rev ? fl.a : fl.b;
    std::uint32_t l4_min = fl.proto == 6 ? 20 : 8;
    std::uint32_t hdr = fl.v6 ? 40 + (fl.v6ext ? 16 : 0) : 20;
    std::uint32_t ip_len = fl.min_len + rng.below(static_cast<std::uint32_t>(fl.max_len - fl.min_len) + 1);
    if (ip_len < hdr + l4_min) ip_len = hdr + l4_min;

    const std::uint32_t l4_len = ip_len - hdr;
    // Fragmented packets: the first fragment carries the L4 header and 8*k bytes, the second the rest.
    const bool frag = fl.frag && l4_len > 64;
    const std::uint32_t first_part = frag ? ((l4_len / 2) & ~7u) : l4_len;
    const std::uint32_t parts = frag ? 2 : 1;
    ++ip_id;
    static std::uint8_t l4buf[2048];
    l4_header(fl, rev, first_of_dir, l4buf, l4_len, rng);

    for (std::uint32_t part = 0; part < parts; ++part) {
        const std::uint32_t off_bytes = part == 0 ? 0 : first_part;
        const std::uint32_t chunk = frag ? (part == 0 ? first_part : l4_len - first_part) : l4_len;
        const bool more = frag && part == 0;
        std::uint32_t n = link_header(linktype, fl, rev, fl.v6 ? 0x86DD : 0x0800, o.qinq_tpid, buf, t);
        std::uint8_t* ip = buf + n;
        std::uint32_t this_ip_len;
        if (!fl.v6) {
            this_ip_len = 20 + chunk;
            std::memset(ip, 0, 20);
            ip[0] = 0x45;
            ip[1] = fl.tos;
            put16(ip + 2, this_ip_len);
            put16(ip + 4, ip_id & 0xffff);
            put16(ip + 6, (more ? 0x2000 : 0) | (off_bytes / 8));
            ip[8] = 64;
            ip[9] = fl.proto;
            std::memcpy(ip + 12, src, 4);
            std::memcpy(ip + 16, dst, 4);
            put16(ip + 10, ip_checksum(ip, 20));
            std::memcpy(ip + 20, l4buf + off_bytes, chunk);
            ++t.v4;
        } else {
            std::uint32_t ext = (fl.v6ext ? 16 : 0) + (frag ? 8 : 0);
            this_ip_len = 40 + ext + chunk;
            std::memset(ip, 0, 40 + ext);
            put32(ip, 0x60000000u | (std::uint32_t{fl.tos} << 20) | (ip_id & 0xfffff));
            put16(ip + 4, this_ip_len - 40);
            ip[7] = 64;
            std::memcpy(ip + 8, src, 16);
            std::memcpy(ip + 24, dst, 16);
            std::uint8_t* nh = ip + 6;  // where the next-header value of the chain goes
            std::uint32_t off = 40;
            if (fl.v6ext) {
                *nh = 0;   // hop-by-hop, 8 bytes (PadN)
                ip[off + 2] = 1;
                ip[off + 3] = 4;
                nh = ip + off;
                off += 8;
                *nh = 60;  // destination options, 8 bytes
                ip[off + 2] = 1;
                ip[off + 3] = 4;
                nh = ip + off;
                off += 8;
                ++t.v6ext;
            }
            if (frag) {
                *nh = 44;
                put16(ip + off + 2, off_bytes | (more ? 1 : 0));
                put32(ip + off + 4, ip_id);
                nh = ip + off;
                off += 8;
            }
            *nh = fl.proto;
            std::memcpy(ip + off, l4buf + off_bytes, chunk);
            ++t.v6;
        }
        if (frag) ++t.fragments;
        if (fl.proto == 6) ++t.tcp;
        else if (fl.proto == 17) ++t.udp;
        else ++t.icmp;
        ++t.frames;
        t.ip_bytes += this_ip_len;
        std::uint32_t wire = n + this_ip_len;
        if (linktype == 1 && wire < 60) {  // Ethernet minimum frame: pad, not counted in IP bytes
            std::memset(buf + wire, 0, 60 - wire);
            wire = 60;
        }
        t.wire_bytes += wire;
        w.frame(ts_us, buf, wire);
    }
}

Flow make_flow(const Options& o, int linktype, std::uint32_t i, Rng& rng) {
    Flow f{};
    f.v6 = rng.unit() < o.ipv6;
    double sum = o.tcp + o.udp + o.icmp;
    double r = rng.unit() * sum;
    f.proto = r < o.tcp ? 6 : (r < o.tcp + o.udp ? 17 : (f.v6 ? 58 : 1));
    f.frag = f.proto == 17 && rng.unit() < o.frag;
    f.v6ext = f.v6 && rng.unit() < o.v6ext;
    if (linktype == 1 && rng.unit() < o.vlan) f.tags = rng.unit() < o.qinq ? 2 : 1;
    f.vlan_outer = static_cast<std::uint16_t>(1 + rng.below(4094));
    f.vlan_inner = static_cast<std::uint16_t>(1 + rng.below(4094));
    f.tos = rng.unit() < 0.1 ? 0xb8 : 0;
    if (f.v6) {
        const std::uint8_t pa[4] = {0x20, 0x01, 0x0d, 0xb8};
        std::memcpy(f.a, pa, 4);
        std::memcpy(f.b, pa, 4);
        f.a[5] = 1;
        f.b[5] = 2;
        put32(f.a + 12, i + 1);
        put32(f.b + 12, 1 + rng.below(256));
    } else {
        f.a[0] = 10;
        f.a[1] = static_cast<std::uint8_t>(i >> 16);
        f.a[2] = static_cast<std::uint8_t>(i >> 8);
        f.a[3] = static_cast<std::uint8_t>(i | 1);
        f.b[0] = 192;
        f.b[1] = 0;
        f.b[2] = 2;
        f.b[3] = static_cast<std::uint8_t>(1 + rng.below(254));
    }
    for (int k = 0; k < 6; ++k) {
        f.mac_a[k] = static_cast<std::uint8_t>(rng.next());
        f.mac_b[k] = static_cast<std::uint8_t>(rng.next());
    }
    f.mac_a[0] = 0x02;  // locally administered, unicast
    f.mac_b[0] = 0x02;
    static const std::uint16_t kServices[] = {80, 443, 53, 22, 123, 25, 8080, 3306};
    f.port_a = static_cast<std::uint16_t>(1024 + rng.below(64000));
    f.port_b = kServices[rng.below(8)];
    if (f.proto == 1 || f.proto == 58) f.port_a = static_cast<std::uint16_t>(rng.below(65536));  // echo id
    const std::uint32_t shape = rng.below(3);
    f.min_len = shape == 0 ? 40 : (shape == 1 ? 100 : 576);
    f.max_len = shape == 0 ? 120 : (shape == 1 ? 600 : 1500);
    if (f.frag) {
        f.min_len = 600;
        f.max_len = 1500;
    }
    return f;
}

bool parse(int argc, char** argv, Options& o) {
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto val = [&]() -> const char* { return i + 1 < argc ? argv[++i] : ""; };
        if (a == "--packets") o.packets = std::strtoull(val(), nullptr, 10);
        else if (a == "--flows") o.flows = static_cast<std::uint32_t>(std::strtoul(val(), nullptr, 10));
        else if (a == "--ipv6") o.ipv6 = std::strtod(val(), nullptr);
        else if (a == "--vlan") o.vlan = std::strtod(val(), nullptr);
        else if (a == "--qinq") o.qinq = std::strtod(val(), nullptr);
        else if (a == "--tcp") o.tcp = std::strtod(val(), nullptr);
        else if (a == "--udp") o.udp = std::strtod(val(), nullptr);
        else if (a == "--icmp") o.icmp = std::strtod(val(), nullptr);
        else if (a == "--frag") o.frag = std::strtod(val(), nullptr);
        else if (a == "--v6ext") o.v6ext = std::strtod(val(), nullptr);
        else if (a == "--reverse") o.reverse = std::strtod(val(), nullptr);
        else if (a == "--qinq-tpid") o.qinq_tpid = static_cast<std::uint16_t>(std::strtoul(val(), nullptr, 0));
        else if (a == "--arp") o.arp = std::strtod(val(), nullptr);
        else if (a == "--snaplen") o.snaplen = static_cast<std::uint32_t>(std::strtoul(val(), nullptr, 10));
        else if (a == "--duration") o.duration_s = static_cast<std::uint32_t>(std::strtoul(val(), nullptr, 10));
        else if (a == "--start") o.start_s = std::strtoull(val(), nullptr, 10);
        else if (a == "--seed") o.seed = std::strtoull(val(), nullptr, 10);
        else if (a == "--linktype") o.linktype = val();
        else if (a == "--out" || a == "-o") o.out = val();
        else return false;
    }
    return o.flows > 0 && o.snaplen >= 14 && link_type_of(o.linktype) >= 0 && o.tcp + o.udp + o.icmp > 0;
}

} // namespace

int main(int argc, char** argv) {
    Options o;
    if (!parse(argc, argv, o)) {
        std::fprintf(stderr,
                     "usage: flowacct-gen-pcap [--packets N] [--flows N] [--ipv6 F] [--vlan F] [--qinq F]\n"
                     "  [--tcp F] [--udp F] [--icmp F] [--frag F] [--v6ext F] [--reverse F] [--arp F] [--qinq-tpid 0x88a8|0x8100]\n  [--snaplen N]\n"
                     "  [--duration S] [--start EPOCH] [--seed N] [--linktype en10mb|sll|sll2|raw|null] -o FILE\n"
                     "F are shares in [0,1]; the TCP/UDP/ICMP weights are normalised.\n");
        return 2;
    }
    const int lt = link_type_of(o.linktype);
    Rng rng(o.seed);
    std::vector<Flow> flows;
    flows.reserve(o.flows);
    for (std::uint32_t i = 0; i < o.flows; ++i) flows.push_back(make_flow(o, lt, i, rng));
    Writer w(o, lt);
    if (!w.ok()) {
        std::perror(o.out.c_str());
        return 1;
    }
    Totals t;
    std::uint32_t ip_id = 0;
    std::vector<std::uint8_t> buf(4096);
    const std::uint64_t span_us = std::uint64_t{o.duration_s} * 1'000'000;
    for (std::uint64_t n = 0; n < o.packets; ++n) {
        const std::uint64_t ts = o.start_s * 1'000'000 + (o.packets > 1 ? span_us * n / o.packets : 0);
        if (lt == 1 && o.arp > 0 && rng.unit() < o.arp) {
            std::uint8_t* f = buf.data();
            std::memset(f, 0, 60);
            std::memset(f, 0xff, 6);
            f[6] = 0x02;
            f[11] = static_cast<std::uint8_t>(n);
            put16(f + 12, 0x0806);
            put16(f + 14, 1);       // Ethernet
            put16(f + 16, 0x0800);  // IPv4
            f[18] = 6;
            f[19] = 4;
            put16(f + 20, 1);       // request
            ++t.arp;
            ++t.frames;
            t.wire_bytes += 60;
            w.frame(ts, f, 60);
            continue;
        }
        // Every flow appears once in order first, then picks are random: each flow is present.
        Flow& fl = flows[n < o.flows ? n : rng.below(o.flows)];
        emit_packet(w, o, lt, fl, ts, rng, t, ip_id, buf.data());
    }
    std::printf("frames %llu\nnon_ip_frames %llu\nip_packets %llu\nip_bytes %llu\nwire_bytes %llu\nipv4 %llu\nipv6 %llu\n"
                "tcp %llu\nudp %llu\nicmp %llu\nvlan_tagged %llu\nqinq %llu\nfragments %llu\nipv6_ext %llu\n",
                static_cast<unsigned long long>(t.frames), static_cast<unsigned long long>(t.arp),
                static_cast<unsigned long long>(t.frames - t.arp),
                static_cast<unsigned long long>(t.ip_bytes), static_cast<unsigned long long>(t.wire_bytes),
                static_cast<unsigned long long>(t.v4), static_cast<unsigned long long>(t.v6),
                static_cast<unsigned long long>(t.tcp), static_cast<unsigned long long>(t.udp),
                static_cast<unsigned long long>(t.icmp), static_cast<unsigned long long>(t.tagged),
                static_cast<unsigned long long>(t.qinq), static_cast<unsigned long long>(t.fragments),
                static_cast<unsigned long long>(t.v6ext));
    return 0;
}
