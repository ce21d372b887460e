// An environment variable set for a scope: the test's changes to the environment never outlive
// it, whatever it does or throws.
#ifndef COCLUSTER_TESTS_SUPPORT_ENV_HPP
#define COCLUSTER_TESTS_SUPPORT_ENV_HPP

#include <cstdlib>
#include <optional>
#include <string>

namespace test {

/// Sets `name` to `value` until the guard ends, then puts back what was there (or unsets it).
class scoped_env {
public:
  scoped_env(std::string name, const std::string& value) : name_(std::move(name)) {
    if (const char* before = std::getenv(name_.c_str()))
      before_ = before;
    ::setenv(name_.c_str(), value.c_str(), 1);
  }
  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;
  ~scoped_env() {
    if (before_)
      ::setenv(name_.c_str(), before_->c_str(), 1);
    else
      ::unsetenv(name_.c_str());
  }

private:
  std::string name_;
  std::optional<std::string> before_;
};

} // namespace test

#endif
