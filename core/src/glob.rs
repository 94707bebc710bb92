//! Redis glob matching (being written).
