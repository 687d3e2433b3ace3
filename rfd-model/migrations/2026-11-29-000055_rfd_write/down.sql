DROP TABLE rfd_discussion_comment;
DROP TABLE rfd_discussion;
DROP TABLE rfd_reservation;
