-- +goose Up
-- The status an authorization had before its attempt in flight started, which
-- it returns to when the attempt ends without a grant (the user declined at the
-- institution, or the code's exchange failed). NULL: not connected (and every
-- row from before this column).
ALTER TABLE authorizations ADD COLUMN prior_status TEXT;

-- +goose Down
ALTER TABLE authorizations DROP COLUMN prior_status;
