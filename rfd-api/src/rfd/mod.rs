//! RFD endpoints: reading RFDs, revisions, PDFs and search ([`read`]), and serving the
//! local storage directory ([`storage`]).

pub mod read;
pub mod storage;
