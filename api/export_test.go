package api

import (
	"reflect"
	"strings"
)

// jsonFields lists the JSON names of the fields of struct type t, those
// of embedded structs included.
func jsonFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		out = append(out, name)
	}
	return out
}

func fieldsOf(v any) []string { return jsonFields(reflect.TypeOf(v)) }

// BodyFields lists, by the name of its schema in openapi.yaml, the JSON
// fields of each type the API decodes from a request or encodes into an
// answer.
func BodyFields() map[string][]string {
	return map[string][]string{
		"IssueRequest":         fieldsOf(issueRequest{}),
		"RenewRequest":         fieldsOf(renewCertRequest{}),
		"RevokeRequest":        fieldsOf(revokeRequest{}),
		"PKCS12Request":        fieldsOf(pkcs12Request{}),
		"AutoRenewRequest":     fieldsOf(autoRenewRequest{}),
		"RenewCARequest":       fieldsOf(renewCARequest{}),
		"SCEPChallengeRequest": fieldsOf(scepChallengeRequest{}),
		"CreateTokenRequest":   fieldsOf(createTokenRequest{}),
		"RejectRequest":        fieldsOf(rejectBody{}),

		"Problem":          fieldsOf(Problem{}),
		"Issued":           fieldsOf(issueResponse{}),
		"Bundle":           fieldsOf(bundleResponse{}),
		"Certificate":      fieldsOf(Certificate{}),
		"CertificateList":  fieldsOf(listResponse{}),
		"CA":               fieldsOf(renewCAResponse{}),
		"CARevocation":     fieldsOf(revokeCAResponse{}),
		"EABKey":           fieldsOf(eabResponse{}),
		"EABKeyRequest":    fieldsOf(eabRequest{}),
		"SCEPChallenge":    fieldsOf(scepChallengeResponse{}),
		"Token":            fieldsOf(tokenJSON{}),
		"Request":          fieldsOf(Request{}),
		"Approval":         fieldsOf(ApprovalJSON{}),
		"Profile":          fieldsOf(profileJSON{}),
		"NameRules":        fieldsOf(nameRulesJSON{}),
		"ProfileApproval":  fieldsOf(profileApprovalJSON{}),
		"Endpoints":        fieldsOf(endpointsJSON{}),
		"RequestList":      fieldsOf(requestList{}),
		"AuditEvent":       fieldsOf(AuditEvent{}),
		"AuditList":        fieldsOf(auditResponse{}),
		"Reconciled":       fieldsOf(reconcileResponse{}),
		"Notification":     fieldsOf(NotificationJSON{}),
		"NotificationList": fieldsOf(notificationList{}),
		"NotificationDue":  fieldsOf(retryResponse{}),
	}
}
