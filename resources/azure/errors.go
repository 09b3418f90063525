package azure

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// runtimePollOptions poll long-running operations at the interval the
// service asks for (Retry-After), or every 2 seconds.
var runtimePollOptions = runtime.PollUntilDoneOptions{Frequency: 2 * time.Second}

// isStatus reports whether err is Azure's answer with that HTTP status.
func isStatus(err error, status int) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == status
}

// azureCode is the error code Azure answered with ("ResourceNotFound").
func azureCode(err error) string {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		if re.ErrorCode != "" {
			return re.ErrorCode
		}
		return fmt.Sprintf("HTTP %d", re.StatusCode)
	}
	return ""
}

// armError turns an SDK error into one sentence naming the block: Azure's
// error code and message (a failed long-running operation's too), or the
// credential's problem, instead of the SDK's multi-line report.
func armError(addr, what string, s *Settings, err error) error {
	prefix := what
	if addr != "" {
		prefix = addr + ": " + what
	}
	var afe *azidentity.AuthenticationFailedError
	var re *azcore.ResponseError
	if errors.As(err, &afe) || !errors.As(err, &re) && s.ClientSecret == "" && strings.Contains(err.Error(), "DefaultAzureCredential") {
		return fmt.Errorf("%s: %s", prefix, s.redact(tokenError(s, err).Error()))
	}
	if errors.As(err, &re) {
		msg := responseMessage(re)
		hint := ""
		switch re.StatusCode {
		case http.StatusUnauthorized:
			hint = " (the token was refused: wrong tenant, or expired credentials)"
		case http.StatusForbidden:
			hint = " (the identity lacks the role for this call)"
		}
		return fmt.Errorf("%s: Azure answered %s%s%s", prefix, azureCode(err), hint, msg)
	}
	return fmt.Errorf("%s: %s", prefix, s.redact(firstLine(err.Error())))
}

// responseMessage is the "message" of Azure's error body (the SDK keeps
// the body readable after it built the error).
func responseMessage(re *azcore.ResponseError) string {
	if re.RawResponse == nil {
		return ""
	}
	data, err := runtime.Payload(re.RawResponse)
	if err != nil {
		return ""
	}
	var body struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(data, &body) != nil {
		return ""
	}
	if m := body.Error.Message; m != "" {
		return ": " + m
	}
	if body.Message != "" {
		return ": " + body.Message
	}
	return ""
}
