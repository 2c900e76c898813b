#include "routemeter/build_info.hpp"
