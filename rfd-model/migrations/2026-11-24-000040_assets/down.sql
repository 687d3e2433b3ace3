DROP TABLE rfd_asset;
