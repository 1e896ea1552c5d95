//! Statistics over measures: all-pairs tables, permutation tests, bootstrap intervals.
