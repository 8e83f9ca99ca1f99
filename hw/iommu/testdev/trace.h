#include "trace/trace-hw_iommu_testdev.h"
