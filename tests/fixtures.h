// Locating ../shared/fixtures from tests. Test cases that need the fixtures
// are tagged [fixtures]; the test main reports them SKIPPED (exit 77, which
// ctest shows as skipped) when the folder is missing.
#pragma once

#include <ctime>
#include <string>
#include <vector>

namespace nextlm::test {

// The fixtures folder: $NEXTLM_FIXTURES if set, else the CMake cache value.
std::string fixtures_dir();
bool have_fixtures();
std::string fixture(const std::string& relative);  // fixtures_dir() + "/" + relative
std::vector<unsigned char> read_file(const std::string& path);
std::string read_text(const std::string& path);
// The clock the fixtures' template renders were made with: 2026-01-02 03:04:05.
std::tm fixture_now();

}  // namespace nextlm::test
