DROP TABLE npm_dist_tags;
