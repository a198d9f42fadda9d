// Package semtag decides which tags to move when a new semantic version of an
// image is pushed: the exact X.Y.Z, plus the moving tags X.Y, X and latest,
// but only forward, so publishing a fix for an old line never drags a moving
// tag back to older code.
//
// Rules, as implemented by [PlanTags]:
//   - X.Y.Z is always set. If it already exists (see [Plan].Exists) the caller
//     decides whether overwriting a published version is allowed.
//   - X.Y moves only if the new version is >= every X.Y.* release already
//     tagged; X likewise among X.*.*; latest only if the new version is >=
//     every release tagged in the repository.
//   - A pre-release (1.2.3-rc.1) gets only its exact tag.
//   - Precedence follows Semantic Versioning 2.0.0. Only existing tags that
//     are full versions count; moving tags, pre-releases and anything that
//     is not semver are ignored, because what they point at is unknown.
//
// Choices where the spec leaves room:
//   - A leading "v" is accepted, on the new version and on existing tags
//     (v1.2.3 counts as 1.2.3 when deciding), but tags are always written
//     without it.
//   - Build metadata (1.2.3+build.5) is rejected: '+' is not allowed in an
//     image tag, and mapping it to another character would make two
//     versions of equal precedence look different. Drop it or move it into
//     a label.
package semtag
