// The serialization suite's doctest main, with the skip report.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "support/skip_report.hpp"
