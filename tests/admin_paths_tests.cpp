// The admin paths' pure answers (`cocluster/supervision/admin_paths.hpp`): which request asks
// for what, what each is answered, and the bytes of an answer. Part of the decisions suite.
#include <doctest/doctest.h>

#include <optional>
#include <string>

#include <cocluster/supervision/admin_paths.hpp>

namespace {

using namespace cocluster;

health::pool_state pool(std::size_t ready, std::size_t size, bool stopping = false) {
  health::pool_state state;
  state.ready = ready;
  state.size = size;
  state.stopping = stopping;
  return state;
}

} // namespace

TEST_SUITE_BEGIN("decisions");

TEST_CASE("an admin request's method and target come from its request line, and a head "
          "without one has none") {
  const auto line = admin::request_line_of("GET /readyz?verbose HTTP/1.1\r\nHost: x\r\n\r\n");
  REQUIRE(line.has_value());
  CHECK(line->first == "GET");
  CHECK(line->second == "/readyz?verbose");
  CHECK(admin::request_line_of("POST /metrics HTTP/1.1\r\n\r\n")->first == "POST");
  CHECK_FALSE(admin::request_line_of("garbage\r\n\r\n").has_value());
  CHECK_FALSE(admin::request_line_of(" /metrics HTTP/1.1\r\n").has_value());
  CHECK_FALSE(admin::request_line_of("GET \r\n").has_value());
}

TEST_CASE("GET /metrics, with or without a query string, is left to the snapshot's text") {
  const admin::paths which;
  CHECK_FALSE(admin::answer_without_metrics("GET", "/metrics", which, pool(1, 1)).has_value());
  CHECK_FALSE(admin::answer_without_metrics("GET", "/metrics?a=b", which, pool(1, 1)).has_value());
  CHECK(admin::answer_without_metrics("GET", "/metrics/", which, pool(1, 1))->status == 404);
  CHECK(admin::answer_without_metrics("GET", "/metricsx", which, pool(1, 1))->status == 404);
}

TEST_CASE("a method other than GET is 405 on every path, /metrics included") {
  const admin::paths which{true, 1};
  for (const char* target : {"/metrics", "/readyz", "/healthz", "/other"}) {
    const auto answer = admin::answer_without_metrics("POST", target, which, pool(1, 1));
    REQUIRE(answer.has_value());
    CHECK(answer->status == 405);
    CHECK(answer->reason == "Method Not Allowed");
  }
}

TEST_CASE("the probes answer only when the health paths are on; otherwise they are 404") {
  const auto off = admin::answer_without_metrics("GET", "/healthz", admin::paths{}, pool(1, 1));
  CHECK(off->status == 404);
  CHECK(off->body == "try GET /metrics\n");
  const admin::paths on{true, 2};
  CHECK(admin::answer_without_metrics("GET", "/healthz", on, pool(0, 2))->status == 200);
  const auto short_of_two = admin::answer_without_metrics("GET", "/readyz", on, pool(1, 2));
  CHECK(short_of_two->status == 503);
  CHECK(short_of_two->body == "not ready: 1 of 2 workers ready, at least 2 needed\n");
  CHECK(admin::answer_without_metrics("GET", "/readyz", on, pool(2, 2))->status == 200);
  CHECK(admin::answer_without_metrics("GET", "/readyz", on, pool(2, 2, true))->status == 503);
  CHECK(admin::answer_without_metrics("GET", "/nothing", on, pool(2, 2))->body ==
        "try GET /metrics, /healthz or /readyz\n");
}

TEST_CASE("an admin answer's bytes are an HTTP/1.1 response with its length, closing the "
          "connection") {
  const admin::response answer{503, "Service Unavailable", "text/plain", "stopping\n"};
  CHECK(admin::to_http(answer) == "HTTP/1.1 503 Service Unavailable\r\n"
                                  "Content-Type: text/plain\r\n"
                                  "Content-Length: 9\r\n"
                                  "Connection: close\r\n\r\n"
                                  "stopping\n");
}

TEST_SUITE_END();
