// SPDX-License-Identifier: GPL-2.0-or-later
// The Prometheus endpoint.
#include "metrics.hpp"

#include <poll.h>        // poll

#include <map>           // std::map
#include <set>           // std::set

#include <boost/asio/ip/tcp.hpp>       // boost::asio::ip::tcp
#include <boost/beast/core.hpp>        // boost::beast::flat_buffer
#include <boost/beast/http.hpp>        // boost::beast::http

#include "config.hpp"    // ConfigError
#include "log.hpp"       // log_warn

namespace flowacct::host {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

struct MetricsServer::Impl {
    asio::io_context io;
    tcp::acceptor acceptor{io};
};

namespace {

std::string metric_name(const std::string& s) {
    std::string out = "flowacct_";
    for (char c : s) out.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
    return out;
}

std::string label_value(const std::string& v) {
    std::string out;
    for (char c : v) {
        if (c == '\\' || c == '"') out.push_back('\\');
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out.push_back(c);
    }
    return out;
}

} // namespace

std::string MetricsServer::render(const CounterRegistry& counters) {
    std::map<std::string, std::vector<std::string>> by_name;
    for (const auto& e : counters.snapshot()) {
        std::string labels = "owner=\"" + label_value(e.owner) + "\"";
        // Module labels come as "k=v" or "k=v,k2=v2".
        std::string rest = e.labels;
        while (!rest.empty()) {
            auto comma = rest.find(',');
            std::string kv = rest.substr(0, comma);
            rest = comma == std::string::npos ? std::string() : rest.substr(comma + 1);
            auto eq = kv.find('=');
            if (eq == std::string::npos || eq == 0) continue;
            std::string k;
            for (char c : kv.substr(0, eq)) k.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
            labels += "," + k + "=\"" + label_value(kv.substr(eq + 1)) + "\"";
        }
        by_name[metric_name(e.name)].push_back("{" + labels + "} " +
                                               std::to_string(__atomic_load_n(e.slot, __ATOMIC_RELAXED)));
    }
    std::string out;
    for (const auto& [name, series] : by_name) {
        out += "# TYPE " + name + " counter\n";
        for (const auto& s : series) out += name + s + "\n";
    }
    return out;
}

MetricsServer::MetricsServer(const std::string& listen, CounterRegistry& counters)
    : impl_(std::make_unique<Impl>()), counters_(counters) {
    auto colon = listen.rfind(':');
    if (colon == std::string::npos || colon == 0)
        throw ConfigError("metrics_listen: expected ADDRESS:PORT, got '" + listen + "'");
    std::string host = listen.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    unsigned long port = std::strtoul(listen.c_str() + colon + 1, nullptr, 10);
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(host, ec);
    if (ec || port > 65535) throw ConfigError("metrics_listen: expected ADDRESS:PORT, got '" + listen + "'");
    tcp::endpoint ep(addr, static_cast<unsigned short>(port));
    impl_->acceptor.open(ep.protocol(), ec);
    if (!ec) impl_->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) impl_->acceptor.bind(ep, ec);
    if (!ec) impl_->acceptor.listen(16, ec);
    if (ec) throw ConfigError("metrics_listen: cannot listen on " + listen + ": " + ec.message());
    port_ = impl_->acceptor.local_endpoint().port();
}

MetricsServer::~MetricsServer() { stop(); }

void MetricsServer::start() {
    thread_ = std::thread([this] { serve(); });
}

void MetricsServer::stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
}

void MetricsServer::serve() {
    const int fd = impl_->acceptor.native_handle();
    while (!stop_.load()) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 200) <= 0) continue;
        boost::system::error_code ec;
        tcp::socket sock(impl_->io);
        impl_->acceptor.accept(sock, ec);
        if (ec) continue;
        // A scraper gets 2 s to send its request; the request is capped at 8 KB.
        timeval tv{2, 0};
        ::setsockopt(sock.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(sock.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        boost::beast::flat_buffer buffer(8192);
        http::request_parser<http::empty_body> parser;
        parser.header_limit(8192);
        http::read(sock, buffer, parser, ec);
        if (ec) continue;
        const auto& req = parser.get();
        http::response<http::string_body> res;
        res.version(req.version());
        res.keep_alive(false);
        if (req.method() != http::verb::get) {
            res.result(http::status::method_not_allowed);
            res.body() = "only GET\n";
        } else if (req.target() != "/metrics") {
            res.result(http::status::not_found);
            res.body() = "see /metrics\n";
        } else {
            res.result(http::status::ok);
            res.set(http::field::content_type, "text/plain; version=0.0.4");
            res.body() = render(counters_);
        }
        res.prepare_payload();
        http::write(sock, res, ec);
        sock.shutdown(tcp::socket::shutdown_both, ec);
    }
}

} // namespace flowacct::host
