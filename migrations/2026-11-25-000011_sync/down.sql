DROP TABLE sync_rejections;
