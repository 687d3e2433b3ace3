//! RFD endpoints: reading RFDs, revisions, PDFs and search ([`read`]), serving the
//! local storage directory ([`storage`]), writes through the source ([`write`]) and
//! discussions ([`discussion`]).

pub mod discussion;
pub mod read;
pub mod storage;
pub mod write;
