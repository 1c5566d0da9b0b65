// EXPECT_THROW_WITH(statement, E, fragment): `statement` throws an E whose message contains `fragment`
// (the tests' way of checking that an error names the bad value).
#pragma once

#include <gtest/gtest.h>

#include <string>

#define EXPECT_THROW_WITH(statement, E, fragment)                                     \
  do {                                                                                \
    try {                                                                             \
      statement;                                                                      \
      ADD_FAILURE() << "no exception from " #statement;                               \
    } catch (const E& e) {                                                            \
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what(); \
    }                                                                                 \
  } while (0)
